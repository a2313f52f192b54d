"""Errors as OpenAI clients expect them: ``{"error": {"message", "type", "code", "param"}}`` with a 4xx status."""

from __future__ import annotations

from starlette.responses import JSONResponse

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
SERVER_ERROR = "server_error"


class ApiError(Exception):
    """A request the server refuses; becomes the error body and status."""

    def __init__(
        self, status: int, message: str, code: str | None = None, type_: str = INVALID_REQUEST, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type_
        self.param = param


def error_body(message: str, type_: str = INVALID_REQUEST, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error.message, error.type, error.code, error.param), status_code=error.status, headers=headers
    )


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)
