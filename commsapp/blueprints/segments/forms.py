"""The segment builder's form: a condition tree flattened into fields named by position.

A condition at position 2 of nested group 1 posts as ``n-1.2-type``, ``n-1.2-op``,
``n-1.2-tag_ids`` (repeated) ... ; the root's AND/OR is ``match``. A client may instead post
the whole tree as JSON in ``definition``. Either way the service validates the result.
"""

import json
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from commsapp.services.segments import SegmentError

LIST_FIELDS = {"tag_ids", "ids", "product_ids", "location_ids"}
MAX_FIELDS = 2_000
NEW_CONDITION: dict[str, Any] = {"type": ""}


def tree_from_form(form: MultiDict) -> dict:
    """The posted tree as a draft (strings as typed); raises SegmentError for mangled field names."""
    if form.get("definition"):
        try:
            tree = json.loads(form["definition"])
        except ValueError:
            raise SegmentError(_("The segment definition is not valid JSON.")) from None
        if not isinstance(tree, dict):
            raise SegmentError(_("The segment definition must be an object with 'conditions'."))
        return tree
    nodes: dict[tuple[int, ...], dict] = {}
    keys = [k for k in form if k.startswith("n-")]
    if len(keys) > MAX_FIELDS:
        raise SegmentError(_("The segment has too many fields."))
    for key in keys:
        try:
            _prefix, path, name = key.split("-", 2)
            position = tuple(int(part) for part in path.split("."))
        except ValueError:
            raise SegmentError(_("Unknown field '%(key)s'.", key=key[:60])) from None
        if not position or min(position) < 1 or len(position) > 4:
            raise SegmentError(_("Unknown field '%(key)s'.", key=key[:60]))
        values = form.getlist(key)
        nodes.setdefault(position, {})[name] = values if name in LIST_FIELDS else values[-1]
    root = {"match": form.get("match", "all"), "conditions": []}
    placed: dict[tuple[int, ...], dict] = {(): root}
    for position in sorted(nodes):
        parent = placed.get(position[:-1])
        if parent is None or "conditions" not in parent:
            raise SegmentError(
                _("Condition %(path)s has no group around it.", path=".".join(map(str, position)))
            )
        node = nodes[position]
        if node.get("type") == "group":
            node = {"type": "group", "match": node.get("match", "all"), "conditions": []}
        parent["conditions"].append(node)
        placed[position] = node
    return root


def apply_action(tree: dict, action: str) -> dict:
    """Builder buttons: ``add:<group>``, ``group:<group>``, ``remove:<node>`` ("" is the root)."""
    verb, _colon, path = action.partition(":")
    position = tuple(int(p) for p in path.split(".") if p.isdigit()) if path else ()
    if verb in ("add", "group"):
        target = _node_at(tree, position)
        if target is None or "conditions" not in target:
            raise SegmentError(_("That group no longer exists: reload the page."))
        if verb == "add":
            target["conditions"].append(dict(NEW_CONDITION))
        else:
            target["conditions"].append(
                {"type": "group", "match": "any", "conditions": [dict(NEW_CONDITION)]}
            )
    elif verb == "remove" and position:
        parent = _node_at(tree, position[:-1])
        index = position[-1] - 1
        if parent is None or not 0 <= index < len(parent.get("conditions", [])):
            raise SegmentError(_("That condition no longer exists: reload the page."))
        del parent["conditions"][index]
    elif verb:
        raise SegmentError(_("Unknown builder action '%(action)s'.", action=action[:40]))
    return tree


def _node_at(tree: dict, position: tuple[int, ...]) -> dict | None:
    node = tree
    for part in position:
        children = node.get("conditions", [])
        if not 1 <= part <= len(children) or not isinstance(children[part - 1], dict):
            return None
        node = children[part - 1]
    return node
