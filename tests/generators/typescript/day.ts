// A therapist's day as a TypeScript frontend writes it: types from openapi.yaml (openapi-typescript, generated
// into ./openapi.ts by tests/generators/test_typescript.py) and one typed openapi-fetch call per step. It only
// has to compile under `tsc --strict`; the Python day (therapist_day.py) is the one that runs.
//
// What a typed frontend needs of the contract, and gets: GAS levels named one by one, CSV reports at
// reports/outcomes.csv, response fields a union discriminated on `type`. Each step is one exported function;
// the test maps a compile error to the step it falls in.
import createClient from "openapi-fetch";
import type { paths } from "./openapi";

type Api = ReturnType<typeof createClient<paths>>;
type MyAssignment = paths["/api/v1/me/assignments/"]["get"]["responses"][200]["content"]["application/json"]["results"][number];
type Answer = string | number | boolean | string[];

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function etag(response: Response): string {
  const value = response.headers.get("ETag");
  check(value, `${response.status} answer without an ETag`);
  return value;
}

const today = (): string => new Date().toISOString().slice(0, 10);

// The one request not made through openapi-fetch: the OAuth token (password grant of the first-party demo-cli).
export async function signIn(baseUrl: string, username: string, scope: string): Promise<Api> {
  const answer = await fetch(`${baseUrl}/o/token/`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "password", client_id: "demo-cli", username, password: "demo-pass-123", scope }),
  });
  const { access_token } = (await answer.json()) as { access_token: string };
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${access_token}` } });
  const { data: me } = await api.GET("/api/v1/me/");
  check(me?.email === username, "signed in as someone else");
  return api;
}

export async function createClientRecord(api: Api): Promise<string> {
  const { data, error } = await api.POST("/api/v1/clients/", {
    body: { given_name: "Riley", family_name: "Chen", pronouns: "she/her", preferred_name: "Ri" },
  });
  check(data, `client not created: ${error?.detail}`);
  check(data.status === "active", "a new client is active");
  return data.id;
}

export async function createCouple(api: Api, riley: string): Promise<string> {
  const { data: jordan } = await api.POST("/api/v1/clients/", { body: { given_name: "Jordan", family_name: "Chen" } });
  check(jordan, "second client not created");
  const { data, error } = await api.POST("/api/v1/couples/", {
    body: { partners: [riley, jordan.id], relationship_type: "partnered", together_since: "2019-06-01" },
  });
  check(data, `couple not created: ${error?.detail}`);
  return data.id;
}

export async function openCase(api: Api, couple: string): Promise<string> {
  const { data, error } = await api.POST("/api/v1/cases/", {
    body: { subject_type: "couple", couple, presenting_concerns: ["emotional_intimacy", "trust"] },
  });
  check(data, `case not opened: ${error?.detail}`);
  check(data.status === "open", "a new case is open");
  return data.id;
}

export async function setGoals(api: Api, caseId: string): Promise<string> {
  const created = await api.POST("/api/v1/goals/", {
    body: {
      case: caseId,
      domain: "emotional_intimacy",
      title: "Name one feeling to each other every day",
      gas_levels: {
        much_less: "Neither partner names a feeling during the week",
        somewhat_less: "Feelings named only when asked, or only by one partner",
        expected: "Each partner names one feeling a day to the other",
        somewhat_more: "Feelings named daily and the other reflects them back",
        much_more: "Both say they feel known by the other day to day",
      },
    },
  });
  const goal = created.data;
  check(goal, `goal not created: ${created.error?.detail}`);
  const expected: string | undefined = goal.gas_levels?.expected;
  check(expected === "Each partner names one feeling a day to the other", "GAS levels come back by name");
  const { data: active } = await api.POST("/api/v1/goals/{id}/transition/", {
    params: { path: { id: goal.id }, header: { "If-Match": etag(created.response) } },
    body: { to: "active" },
  });
  check(active?.lifecycle_status === "active", "goal not activated");
  const { data: rating } = await api.POST("/api/v1/goals/{id}/gas-ratings/", {
    params: { path: { id: goal.id } },
    body: { score: -1 },
  });
  check(rating?.score === -1, "GAS rating not recorded");
  return goal.id;
}

export async function writeAndSignNote(api: Api, caseId: string): Promise<string> {
  const created = await api.POST("/api/v1/notes/", {
    body: {
      case: caseId,
      session_date: today(),
      format: "dap",
      sections: { data: "First joint session.", assessment: "Both engaged.", plan: "Weekly sessions." },
    },
  });
  const note = created.data;
  check(note?.status === "draft", "note not created as a draft");
  const edited = await api.PATCH("/api/v1/notes/{id}/", {
    params: { path: { id: note.id }, header: { "If-Match": etag(created.response) } },
    body: { sections: { data: "First joint session.", assessment: "Both engaged.", plan: "Name a feeling a day." } },
  });
  check(edited.data, `note not edited: ${edited.error?.detail}`);
  const signed = await api.POST("/api/v1/notes/{id}/sign/", {
    params: { path: { id: note.id }, header: { "If-Match": etag(edited.response) } },
  });
  check(signed.data?.status === "signed", "note not signed");
  const locked = await api.PATCH("/api/v1/notes/{id}/", {
    params: { path: { id: note.id }, header: { "If-Match": etag(signed.response) } },
    body: { sections: { data: "changed" } },
  });
  check(locked.response.status === 409 && locked.error?.code, "a signed note refuses edits");
  return note.id;
}

export async function assignHomework(api: Api, caseId: string, partners: [string, string]): Promise<string> {
  const { data: library } = await api.GET("/api/v1/exercises/", {
    params: { query: { catalog: "true", search: "small risk", page_size: 200 } },
  });
  const exercise = library?.results.find((e) => e.slug === "small-risk-together");
  check(exercise, "exercise not in the library");
  const { data, error } = await api.POST("/api/v1/assignments/", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { case: caseId, exercise: exercise.id, assignees: partners, frequency: "once", due_date: today() },
  });
  check(data, `homework not assigned: ${error?.detail}`);
  check(data.exercise_version.id === exercise.current_version.id, "the version given is pinned");
  return data.id;
}

export async function fetchAssignments(api: Api): Promise<MyAssignment[]> {
  const { data, error } = await api.GET("/api/v1/me/assignments/", { params: { query: { page_size: 200 } } });
  check(data, `no assignments: ${error?.detail}`);
  return data.results;
}

// One question of the form: a union discriminated on `type`, each with its own constraints.
type ResponseField = MyAssignment["exercise_version"]["response_fields"][number];

export function answerFor(field: ResponseField): Answer {
  switch (field.type) {
    case "text":
      return "We went to the climbing wall.";
    case "long_text":
      return "I wanted to back out; saying so made it easier.";
    case "scale":
      return Math.floor((field.min + field.max) / 2);
    case "boolean":
      return true;
    case "single_choice":
      return field.options[0];
    case "multi_choice":
      return field.options.slice(0, 2);
    case "date":
      return today();
    default: {
      const unknownType: never = field;
      throw new Error(`no answer for ${JSON.stringify(unknownType)}`);
    }
  }
}

export function buildAnswers(assignment: MyAssignment): Record<string, Answer> {
  const steps: string[] = assignment.exercise_version.steps;
  check(steps.length > 0, "an exercise has steps");
  return Object.fromEntries(assignment.exercise_version.response_fields.map((field) => [field.key, answerFor(field)]));
}

export async function submitAnswers(api: Api, assignment: string, responses: Record<string, Answer>): Promise<string> {
  const request = {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { assignment, completed_at: new Date().toISOString(), responses, shared_with_partner: true },
  };
  const first = await api.POST("/api/v1/submissions/", request);
  const resent = await api.POST("/api/v1/submissions/", request);
  check(first.data && resent.data, "submission refused");
  check(resent.response.headers.get("Idempotent-Replayed") === "true", "a resend replays");
  check(resent.data.id === first.data.id, "a resend stores nothing twice");
  return first.data.id;
}

export async function outcomesJson(api: Api): Promise<number> {
  const { data, error } = await api.GET("/api/v1/reports/outcomes/", { params: { query: { domain: "communication" } } });
  check(data, `no report: ${error?.detail}`);
  return data.rows.length + data.total.cases;
}

export async function outcomesCsv(api: Api): Promise<string[]> {
  const { data, error } = await api.GET("/api/v1/reports/outcomes.csv", {
    params: { query: { domain: "communication" } },
    parseAs: "text",
  });
  check(data !== undefined, `no CSV: ${error?.detail}`);
  const header = data.split("\n")[0];
  check(header.startsWith("clinician,clinician_name,cases,"), "CSV header");
  return data.split("\n");
}

export async function caseChartPng(api: Api, caseId: string): Promise<Uint8Array> {
  const { data, error } = await api.GET("/api/v1/cases/{id}/outcomes/chart.png", {
    params: { path: { id: caseId } },
    parseAs: "arrayBuffer",
  });
  check(data, `no chart: ${error?.detail}`);
  const png = new Uint8Array(data);
  check(PNG_MAGIC.every((byte, i) => png[i] === byte), "a PNG");
  return png;
}
