"""What `cible run` and `cible demo` show of a Dagster run: one line per step (name, seconds),
one per check that did not pass, and on failure the reason as one paragraph, Dagster's own
output going to a log file.

Dagster's command line prints about 1,700 DEBUG lines for a run and, for a bad file, five
traceback blocks around the one useful sentence (#16, point 4). Its event lines are read
here as text (this module must not import Dagster: the command line runs it as a program).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# `<time> - dagster - <LEVEL> - <job> - <run id> - <pid> - <step> - <EVENT> - <message>`
_STEP_EVENT = re.compile(
    r" - dagster - \w+ - .+ - (?P<step>[^ ]+) - "
    r"(?P<event>STEP_SUCCESS|STEP_FAILURE|STEP_SKIPPED) - (?P<message>.*)$"
)
# A check that did not pass (Dagster prints every evaluation; only failures are shown).
_CHECK_FAILED = re.compile(
    r" - ASSET_CHECK_EVALUATION - Asset check '(?P<check>[^']+)' on '(?P<asset>[^']+)' "
    r"did not pass\.(?: Description: '(?P<description>.*)')?$"
)
_SECONDS = re.compile(r" in (?P<duration>[0-9][0-9.ms]*?)\.?$")
# The exception a step raised, as Dagster prints it: `module.path.ErrorName: message`.
_ERROR = re.compile(
    r"^(?P<module>[a-z_][\w.]*)\.(?P<kind>[A-Z]\w*(?:Error|Exception)): (?P<text>.*)$"
)
_LABELS = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}


@dataclass
class RunOutput:
    """Reads a Dagster run's output line by line; collects what a user needs to see."""

    failed_steps: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    _reading: list[str] | None = None

    def feed(self, line: str) -> str | None:
        """Take one line of Dagster's output; returns the line to print for it, if any."""
        line = line.rstrip("\n")
        if self._reading is not None:
            if line.strip() and not line.startswith(("Stack Trace:", "  File ", "The above ")):
                self._reading.append(line)
                return None
            self._end_reason()
        check = _CHECK_FAILED.search(line)
        if check is not None:
            description = (check["description"] or "see the log")[:200]
            return f"  check   {check['check']} on {check['asset']} did not pass: {description}"
        event = _STEP_EVENT.search(line)
        if event is not None:
            step, kind = event["step"], event["event"]
            if kind == "STEP_FAILURE":
                self.failed_steps.append(step)
            seconds = _SECONDS.search(event["message"])
            timing = f"  {seconds['duration']}" if seconds else ""
            return f"  {_LABELS[kind]:<7} {step}{timing}"
        error = _ERROR.match(line)
        if error is not None and error["module"].split(".")[0] != "dagster":
            self._reading = [error["text"]]
        return None

    def _end_reason(self) -> None:
        text = "\n".join(self._reading or []).strip()
        self._reading = None
        if not text:
            return
        # The same error is printed again for the run, and its cause (`raise ... from`) too,
        # often the same message shorter: keep the fullest of each.
        for index, seen in enumerate(self.reasons):
            if seen.startswith(text) or text.startswith(seen):
                self.reasons[index] = max(seen, text, key=len)
                return
        self.reasons.append(text)

    def failure_paragraph(self, command: str, log: str) -> str:
        """The message of a failed run: the step, the reason(s) and where the log is."""
        if self._reading is not None:
            self._end_reason()
        steps = ", ".join(self.failed_steps) or "a step"
        # Cible's own errors say what to do; a reason from elsewhere is shown as it is.
        reasons = "\n".join(self.reasons) or "no reason was printed (see the log)"
        return f"cible {command} stopped: {steps} failed.\n{reasons}\nFull log: {log}"
