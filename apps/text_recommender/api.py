"""The recommender's REST routes (``text-recommender serve REC_DIR``), on the core's server.

- ``GET /v1/recommend?user=…&k=…[&diversity=…]``: a user's top-k list with explanations (a user
  without a history gets popular items, with ``"known_user": false``).
- ``POST /v1/recommend`` with ``{"query": "…"}`` (a taste in words) or ``{"items": [...]}`` (a
  few liked item ids: cold start), plus ``k``, ``diversity``, ``exclude``.

Requests run one at a time in the core's micro-batcher's worker thread (never on the event
loop); the server adds ``/health``, ``/ready``, ``/v1/model``, ``/metrics``, ``/openapi.json``.
"""


from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from domaintune.errors import DataError
from domaintune.serving import ApiError, MicroBatcher, Routes, ServeConfig, error_response
from domaintune.serving.schemas import TEXT_PATTERN

from .data import normalize_id
from .service import Recommender, UnknownItemError

MAX_K = 100
MAX_ITEMS = 200
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


def recommend_request(config: ServeConfig) -> type[BaseModel]:
    """The body of ``POST /v1/recommend``, with the server's text limit in its schema."""

    class RecommendRequest(BaseModel):
        """A query (a taste in words) or liked items (cold start): exactly one of them."""

        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "oneOf": [{"required": ["query"]}, {"required": ["items"]}]})
        query: str = Field(None, min_length=1, max_length=config.max_chars, pattern=TEXT_PATTERN,
                           description="what the user likes, in words")
        items: list[ItemId] = Field(None, min_length=1, max_length=MAX_ITEMS,
                                    description="liked item ids")
        k: int = Field(10, ge=1, le=MAX_K)
        diversity: float | None = Field(None, ge=0.0, le=1.0, description="MMR λ (0 = none)")
        exclude: list[ItemId] = Field([], max_length=MAX_ITEMS,
                                      description="item ids not to recommend")

    return RecommendRequest


class Item(BaseModel):
    item_id: str
    title: str
    score: float
    rank: int
    explanation: str
    because: list[str]
    because_titles: list[str]
    reasons: list[str]
    category: str | None = None


class RecommendResponse(BaseModel):
    user: str | None = None
    known_user: bool | None = None
    recommendations: list[Item]


def _run(rec: Recommender, job: dict[str, Any]) -> dict[str, Any] | ApiError:
    """One request (in the batcher's worker thread); input errors come back as ApiErrors."""
    try:
        if job["kind"] == "user":
            found = rec.recommend(job["user"], job["k"], diversity=job["diversity"])
        elif job["kind"] == "query":
            found = rec.recommend_for_query(job["query"], job["k"], diversity=job["diversity"],
                                            exclude=job["exclude"])
        else:
            found = rec.recommend_for_items(job["items"], job["k"], diversity=job["diversity"],
                                            exclude=job["exclude"])
    except UnknownItemError as exc:  # a liked item that is not in the catalogue
        return ApiError(404, "unknown_items", str(exc))
    except DataError as exc:  # e.g. a query with nothing to match
        return ApiError(422, "invalid_request", str(exc))
    return {"recommendations": [r.to_dict() for r in found]}


def routes(rec: Recommender, config: ServeConfig | None = None) -> Routes:
    """The recommender's routes (the AppSpec ``routes`` hook)."""
    config = config or ServeConfig()
    # the model work of a request is a whole ranking pass: one request per call, in order
    batcher = MicroBatcher(lambda jobs: [_run(rec, j) for j in jobs], name="text_recommender",
                           max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms)
    router = APIRouter(tags=["recommender"])

    async def answer(job: dict[str, Any]) -> dict[str, Any]:
        out = await batcher.submit(job)
        if isinstance(out, ApiError):
            raise out
        return out

    @router.get("/v1/recommend", response_model=RecommendResponse,
                summary="a user's top-k items, with explanations")
    async def recommend_user(user: str = Query(..., min_length=1, max_length=200,
                                               pattern=TEXT_PATTERN),
                             k: int = Query(10, ge=1, le=MAX_K),
                             diversity: float | None = Query(None, ge=0.0, le=1.0)
                             ) -> dict[str, Any]:
        uid = normalize_id(user)
        if not uid:
            raise ApiError(422, "invalid_user", "user: expected a user id, found a blank one")
        out = await answer({"kind": "user", "user": uid, "k": k, "diversity": diversity})
        return {"user": uid, "known_user": rec.has_history(uid), **out}

    RecommendRequest = recommend_request(config)

    @router.post("/v1/recommend", response_model=RecommendResponse,
                 responses={404: error_response("A liked item is not in the catalogue "
                                                "(`unknown_items`)")},
                 summary="top-k items for a taste in words or a few liked items (cold start)")
    async def recommend_post(request: RecommendRequest) -> dict[str, Any]:
        if (request.query is None) == (request.items is None):
            raise ApiError(422, "missing_query", "expected exactly one of query (a taste in "
                           "words) or items (liked item ids), found "
                           f"{'both' if request.query is not None else 'neither'}; for a known "
                           "user use GET /v1/recommend?user=...")
        job = {"k": request.k, "diversity": request.diversity, "exclude": request.exclude}
        if request.query is not None:
            job.update(kind="query", query=request.query)
        else:
            job.update(kind="items", items=request.items)
        return await answer(job)

    def info() -> dict[str, Any]:
        return {"task": "text-recommender", "items": len(rec.catalog.ids),
                "users": len(rec.users()), "fine_tuned": rec.tuned is not rec.frozen}

    return Routes(name="text_recommender", router=router, info=info, batchers=[batcher])
