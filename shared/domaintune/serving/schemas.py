"""Request bodies shared by the routes, and the checks on their texts.

Pydantic checks the shapes (a list of strings, no unknown fields); :func:`texts_of` and
:func:`check_text` check what depends on the server's limits (:class:`ServeConfig`), each with
its own error code, so a client can tell "too many texts" from "not a string".

Example:
    >>> from domaintune.serving import ServeConfig
    >>> texts_of(TextsRequest(text="where is my card?"), ServeConfig())
    ['where is my card?']
    >>> texts_of(TextsRequest(texts=[]), ServeConfig())
    Traceback (most recent call last):
    ...
    domaintune.serving.errors.ApiError: texts: expected at least one text, found []
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..data import clean_text
from .config import ServeConfig
from .errors import ApiError

logger = logging.getLogger(__name__)


#: a text the models take: at least one character that is neither whitespace nor a control
#: character (what :func:`check_text` checks, in JSON-schema words)
TEXT_PATTERN = r"[^\s\x00-\x1f\x7f-\x9f]"


def _texts_schema(schema: dict[str, Any]) -> None:
    """The JSON schema of :class:`TextsRequest` says what :func:`texts_of` accepts: exactly one
    of the fields, not null, non-empty texts (the limits are added by the server's spec)."""
    props = schema.get("properties", {})
    for name in ("texts", "text"):
        prop = props.get(name)
        if prop is None:
            continue
        variants = [v for v in prop.pop("anyOf", [prop]) if v.get("type") != "null"]
        prop.pop("default", None)
        prop.update(variants[0] if variants else {})
    if "texts" in props:
        props["texts"]["minItems"] = 1
        props["texts"].setdefault("items", {}).update(minLength=1, pattern=TEXT_PATTERN)
    if "text" in props:
        props["text"].update(minLength=1, pattern=TEXT_PATTERN)
    schema["oneOf"] = [{"required": ["texts"]}, {"required": ["text"]}]
    schema["examples"] = [{"texts": ["where is my refund?", "my card was stolen"]},
                          {"text": "where is my refund?"}]


class TextsRequest(BaseModel):
    """``{"texts": ["...", ...]}`` or ``{"text": "..."}`` (exactly one of them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_texts_schema)

    texts: list[str] | None = Field(default=None, description="texts to process, in order")
    text: str | None = Field(default=None, description="one text (the answer is a list of one)")


def check_text(value: str, field: str, config: ServeConfig) -> str:
    """``value`` when it is a text the model can take: not blank, at most ``max_chars`` long.

    Args:
        value: the text (already a ``str``: pydantic checked the type).
        field: where it is in the body, for the message (``text``, ``texts[3]``, ``query``).
        config: the server's limits.

    Raises:
        ApiError: 422 ``text_too_long``, ``invalid_text`` (a lone surrogate) or ``empty_text``,
            naming ``field``.
    """
    if len(value) > config.max_chars:
        raise ApiError(422, "text_too_long",
                       f"{field}: expected at most {config.max_chars} characters, found "
                       f"{len(value)}; shorten or split the text (the server's limit is set by "
                       "--max-chars)")
    try:  # JSON can carry lone surrogates ("\ud800"), which no tokenizer takes
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(422, "invalid_text",
                       f"{field}: expected valid Unicode text, found a lone surrogate "
                       f"({value[exc.start]!r}) at character {exc.start}; send the text as "
                       "UTF-8 with its surrogate pairs complete") from None
    if not clean_text(value).strip():  # the models reject blank texts (data.check_texts)
        raise ApiError(422, "empty_text", f"{field}: expected a non-empty text, found "
                                          f"{'an empty string' if not value else 'only whitespace'}")
    return value


def texts_of(request: TextsRequest, config: ServeConfig) -> list[str]:
    """The texts of a :class:`TextsRequest`, checked against the server's limits.

    Raises:
        ApiError: 422 with code ``missing_texts`` (neither or both of ``texts`` and ``text``),
            ``empty_texts`` (``[]``), ``too_many_texts`` (more than ``max_texts``),
            ``text_too_long``, ``invalid_text`` or ``empty_text`` (naming ``texts[i]``).
    """
    for name in ("texts", "text"):
        if name in request.model_fields_set and getattr(request, name) is None:
            raise ApiError(422, "invalid_request", f"{name}: expected "
                           f"{'a list of strings' if name == 'texts' else 'a string'}, found null")
    if (request.texts is None) == (request.text is None):
        found = "both" if request.texts is not None else "neither"
        raise ApiError(422, "missing_texts",
                       f"texts: expected exactly one of 'texts' (a list of strings) or 'text' "
                       f"(one string), found {found}; send {{\"texts\": [\"...\"]}}")
    if request.text is not None:
        texts = [check_text(request.text, "text", config)]
    else:
        texts = request.texts or []
        if not texts:
            raise ApiError(422, "empty_texts", "texts: expected at least one text, found []")
        if len(texts) > config.max_texts:
            raise ApiError(422, "too_many_texts",
                           f"texts: expected at most {config.max_texts} texts per request, found "
                           f"{len(texts)}; split them over several requests, or raise the "
                           "server's limit with --max-texts")
        for i, text in enumerate(texts):
            check_text(text, f"texts[{i}]", config)
    if config.log_texts:
        logger.info("texts: %r", texts)
    return list(texts)


def apply_limits(openapi: dict[str, Any], config: ServeConfig) -> dict[str, Any]:
    """Write the server's limits (``max_texts``, ``max_chars``) into the ``TextsRequest``
    schema of an OpenAPI document, so that the spec says what the server accepts."""
    schema = openapi.get("components", {}).get("schemas", {}).get("TextsRequest")
    if not isinstance(schema, dict):
        return openapi
    props = schema.get("properties", {})
    if "texts" in props:
        props["texts"]["maxItems"] = config.max_texts
        props["texts"].setdefault("items", {})["maxLength"] = config.max_chars
    if "text" in props:
        props["text"]["maxLength"] = config.max_chars
    return openapi
