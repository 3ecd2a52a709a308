"""The OpenAI Responses API (``POST /v1/responses``): its request models, validation and the API-neutral view.

``wire`` holds the pydantic models of the request body, ``values`` the enums they accept, ``validation`` the
rules the real API enforces across fields, and ``items`` turns a request into a :class:`mockai.prompt.Prompt` and
into the items ``GET /responses/{id}/input_items`` lists. Nothing here imports a web framework.
"""
