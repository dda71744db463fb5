"""pytest plugin: policy test files (``*.tests.yaml``) become test items.

Registered through the ``pytest11`` entry point, so any project that has
``guardlang`` installed collects its policy tests with plain ``pytest``:
one item per case, named by the case's name. A failing case shows the same
diff as ``guardrails test``; a ``todo`` case is skipped with its reason; a
malformed test file (or policies that do not load) is one failing item,
``<test file>``, showing the located errors. Policies load from the test
file's directory. Disable with ``-p no:guardrails``.

``--guardrails-injection-model MODULE:FACTORY`` and
``--guardrails-grounding-model MODULE:FACTORY`` run the cases with opt-in
backends, as ``guardrails test --injection-model/--grounding-model`` do: each
is loaded once, when pytest starts, and one that cannot be loaded is a usage
error.
"""

from __future__ import annotations

from typing import Any

import pytest

_RUNNER = pytest.StashKey[Any]()
SUFFIX = ".tests.yaml"  # kept here so importing the plugin stays cheap


def pytest_addoption(parser) -> None:
    group = parser.getgroup("guardrails", "policy tests (*.tests.yaml)")
    group.addoption("--guardrails-injection-model", metavar="MODULE:FACTORY", default=None,
                    help="score injection() in policy tests with this importable backend")
    group.addoption("--guardrails-grounding-model", metavar="MODULE:FACTORY", default=None,
                    help="judge grounded() paraphrases in policy tests with this importable NLI backend")


def pytest_configure(config) -> None:
    injection = config.getoption("guardrails_injection_model", None)
    grounding = config.getoption("guardrails_grounding_model", None)
    if injection is None and grounding is None:
        return  # the runner is made when a test file is collected
    from guardrails.diagnostics import GuardrailsError
    from guardrails.testing.runner import Runner, load_backends

    try:
        injection, grounding = load_backends(injection, grounding)
    except GuardrailsError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_RUNNER] = Runner(injection_model=injection, grounding_model=grounding)


def pytest_collect_file(file_path, parent):
    if file_path.name.endswith(SUFFIX):
        return PolicyTestFile.from_parent(parent, path=file_path)
    return None


def _runner(config) -> Any:
    runner = config.stash.get(_RUNNER, None)
    if runner is None:
        from guardrails.testing import Runner  # loads the engine only when a test file is collected

        runner = config.stash[_RUNNER] = Runner()
    return runner


class PolicyTestFile(pytest.File):
    def collect(self):
        prepared = _runner(self.config).prepare(self.path)
        if prepared.errors:
            yield PolicyFileError.from_parent(self, name="<test file>", prepared=prepared)
            return
        for bound in prepared.cases:
            yield PolicyCase.from_parent(self, name=bound.case.name, prepared=prepared, bound=bound)


class PolicyCaseFailed(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class PolicyCase(pytest.Item):
    def __init__(self, *, prepared: Any, bound: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.prepared = prepared
        self.bound = bound

    def runtest(self) -> None:
        from guardrails.testing import format_failure

        result = _runner(self.config).run_case(self.prepared, self.bound)
        if result.status == "skipped":
            skip = pytest.skip.Exception(result.reason)
            skip._use_item_location = True  # report the case's line, not this one (as pytest's own marks do)
            raise skip
        if result.status == "failed":
            raise PolicyCaseFailed(format_failure(result))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, PolicyCaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        case = self.bound.case
        return self.path, max(case.line - 1, 0), f"{self.prepared.label} [{case.stage}]: {case.name}"


class PolicyFileError(pytest.Item):
    def __init__(self, *, prepared: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.prepared = prepared

    def runtest(self) -> None:
        raise PolicyCaseFailed(self.prepared.render_errors())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, PolicyCaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"{self.path.name}: malformed test file"
