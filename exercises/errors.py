"""What the exercise library refuses. The API maps each to one HTTP status (api/errors.py)."""


class ExerciseInvalid(ValueError):
    """An exercise's content breaks the format; `problems` maps field → messages."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items()))
        self.problems = problems


class ExerciseNotYours(PermissionError):
    """Only the author of a clinician-written exercise changes it; catalog exercises change only in the repo."""


class ExerciseStale(ValueError):
    """The exercise changed since the caller read it."""

    def __init__(self, current_version: int):
        super().__init__(f"This exercise is at version {current_version}; fetch it again.")
        self.current_version = current_version
