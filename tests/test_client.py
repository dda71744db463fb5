"""The client mirrors the engine's front door, so either can be passed to
code such as the decorator or StreamGuard."""

from __future__ import annotations

import inspect

import grpc
import pytest

from guardrails import Engine, GuardrailsError, UnknownPolicyError
from guardrails.sidecar.client import (
    AsyncGuardrailsClient,
    AuthenticationError,
    GuardrailsClient,
    InvalidRequestError,
    OverloadedError,
    PolicyNotFoundError,
    SidecarError,
    SidecarUnavailableError,
    _error,
)

METHODS = ["check", "check_input", "check_output", "check_retrieval", "check_tool_call"]
# Evaluation options only an in-process engine has (policy tests and debugging):
# the wire carries `explain` alone.
ENGINE_ONLY = {"exhaustive", "overrides", "coverage"}


@pytest.mark.parametrize("name", METHODS)
def test_same_methods_and_leading_parameters_as_the_engine(name):
    engine_params = list(inspect.signature(getattr(Engine, name)).parameters.values())
    for cls in (GuardrailsClient, AsyncGuardrailsClient):
        params = inspect.signature(getattr(cls, name)).parameters
        forwards = any(q.kind is q.VAR_KEYWORD for q in params.values())  # passes the rest on by name
        for p in engine_params:
            if p.kind is p.VAR_KEYWORD or p.name in ENGINE_ONLY or (forwards and p.name not in params):
                continue
            assert p.name in params, (cls.__name__, name, p.name)
            assert params[p.name].kind == p.kind, (cls.__name__, name, p.name)
    for twin in ("a" + name,):
        assert inspect.iscoroutinefunction(getattr(GuardrailsClient, twin))
        assert inspect.iscoroutinefunction(getattr(AsyncGuardrailsClient, twin))


class _Rpc(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize("code,cls,also", [
    (grpc.StatusCode.UNAVAILABLE, SidecarUnavailableError, ConnectionError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, SidecarUnavailableError, ConnectionError),
    (grpc.StatusCode.NOT_FOUND, PolicyNotFoundError, UnknownPolicyError),
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequestError, ValueError),
    (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError, PermissionError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, OverloadedError, SidecarError),
    (grpc.StatusCode.INTERNAL, SidecarError, GuardrailsError),
])
def test_status_codes_become_guardrails_errors(code, cls, also):
    err = _error(_Rpc(code, "what happened"), "127.0.0.1:9")
    assert type(err) is cls and isinstance(err, also) and isinstance(err, GuardrailsError)
    assert err.code is code and "what happened" in str(err)
    if cls is SidecarUnavailableError:
        assert "127.0.0.1:9" in str(err)


def test_unknown_stage_is_refused_before_any_call():
    with GuardrailsClient("127.0.0.1:9") as c, pytest.raises(InvalidRequestError, match="unknown stage"):
        c.check("nope", {})
