"""Dash's own HTTP requests, made by hand: what a browser POSTs to ``/_dash-update-component``
(the auth tests send them without, with the wrong and with the right credentials)."""
from __future__ import annotations

from dashboard.auth import output_ids

CALLBACKS = "/_dash-update-component"


def callback_body(app, output_id: str, values: dict[str, object] | None = None) -> dict:
    """The JSON body that runs the callback of ``app`` writing the component ``output_id``;
    input and state ``values`` by ``"id.property"`` (the others None)."""
    values = values or {}
    key = next(k for k in app.callback_map if output_id in output_ids(k))
    spec = app.callback_map[key]

    def props(items: list[dict]) -> list[dict]:
        return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [dict(zip(("id", "property"), part.rsplit(".", 1))) for part in parts]
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": props(spec["inputs"]), "state": props(spec["state"]),
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in spec["inputs"][:1]]}
