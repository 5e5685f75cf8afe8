"""One error hierarchy for the library, the CLI (one line + exit code) and the HTTP API (JSON + 4xx), and the
one record of an input that a batch skipped (`Failure`)."""

from __future__ import annotations

from dataclasses import dataclass


class IcanvasError(Exception):
    """A problem the user can act on. The message names the thing and the reason, in one line."""

    exit_code = 1
    http_status = 400
    kind = "error"


class NotFound(IcanvasError):
    """A file, folder, theme, run or model that does not exist."""

    exit_code = 2
    http_status = 404
    kind = "not_found"


class BadInput(IcanvasError):
    """Input that exists but cannot be used: bad option value, malformed file, wrong layout."""

    exit_code = 2
    http_status = 422
    kind = "bad_input"


class UnsupportedImage(BadInput):
    """Bytes that do not decode as an image (not an image, truncated, empty)."""

    http_status = 415
    kind = "unsupported_image"


class TooLarge(BadInput):
    """An upload or image beyond the configured size or pixel limits."""

    http_status = 413
    kind = "too_large"


class NetworkError(IcanvasError):
    """A download that failed after retries, or a server that refused."""

    exit_code = 3
    http_status = 502
    kind = "network"


class ChecksumMismatch(NetworkError):
    kind = "checksum_mismatch"


class UnsafeArchive(BadInput):
    """An archive member that would land outside the extraction folder."""

    kind = "unsafe_archive"


class CredentialsMissing(IcanvasError):
    kind = "credentials_missing"


@dataclass(frozen=True)
class Failure:
    """An input a batch skipped, and why. Every stage reports skipped inputs as a list of these."""

    input: str
    reason: str

    @classmethod
    def of(cls, name: str, exc: Exception) -> "Failure":
        """The failure for `name` from an error whose message may already start with 'name: '."""
        message = str(exc)
        return cls(name, message.removeprefix(f"{name}: "))

    def __str__(self) -> str:
        return f"{self.input}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "reason": self.reason}
