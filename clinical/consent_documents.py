"""The consent documents the product ships, one per kind (version "1"). A practice publishes its own versions
(`consent-documents/`, its admin); the newest published of a kind is the one a client is asked to consent to.
These are plain-language starting points written for this product, not legal advice: a practice's own lawyer's
texts replace them."""

BUILTIN_VERSION = "1"

BUILTIN_DOCUMENTS = {
    "treatment": (
        "Consent to couples and relationship therapy",
        "I agree to take part in therapy with this practice. I understand that therapy is a shared piece of work: "
        "my therapist will agree goals with me (and with my partner, in couples work), suggest exercises to try "
        "between sessions, and ask me to fill in short questionnaires so that we can both see whether things are "
        "changing. I may ask questions about the approach at any time, and I may stop at any time.\n\n"
        "In couples work my therapist will meet each of us alone at least once, early on, to ask about safety at "
        "home. What my therapist may share between my partner and me follows the confidentiality policy we agree "
        "on at the start, which I have read. My records are kept securely, and are shared outside the practice only "
        "with my written consent, or where the law requires it (for example, to prevent serious harm).",
    ),
    "electronic_communication": (
        "Consent to electronic communication",
        "I agree that the practice may contact me through its app: reminders of homework and questionnaires that "
        "are due, and notices that something is waiting for me. Reminders never contain the content of my therapy. "
        "Push notifications and e-mail are not fully private on a shared device, so I will protect my phone with a "
        "lock. I can choose quiet hours and the kinds of reminder I receive, and I can withdraw this consent at any "
        "time; the practice then stops contacting me this way.",
    ),
    "release_of_records": (
        "Authorisation to release records",
        "I authorise the practice to release a copy of my therapy records to the party named below, for the purpose "
        "stated below, and for no other use. I understand that in couples work the records of our joint therapy can "
        "only be released when my partner also authorises it, and that what the release contains follows our "
        "confidentiality policy. I may withdraw this authorisation at any time before the release is made.",
    ),
    "recording": (
        "Consent to recording of sessions",
        "I agree that my sessions may be recorded for my therapist's supervision and training. Recordings are kept "
        "securely, seen only by my therapist and their clinical supervisor, and deleted once supervision of them is "
        "done. I may decline or withdraw this consent at any time without any effect on my care.",
    ),
}
