"""The end-to-end key directory in the OpenAPI document: server/chat/key_routes.py (rules in server/chat/keys.py)."""

from __future__ import annotations

from server.chat.key_routes import BODY_LIMIT as KEYS_BODY_LIMIT
from server.chat.keydir import MAX_DEVICES, MAX_KEY_BYTES, MAX_KEY_ID, MAX_STORED, MAX_UPLOAD, MIN_KEY_BYTES
from server.web.apidoc.kit import (
    INTEGER,
    JSON,
    STRING,
    TIME,
    ApiBook,
    array,
    no_content,
    nullable,
    obj,
    ref,
    reply,
)
from server.web.validation import Field

BASE64_KEY = {
    "type": "string",
    "maxLength": (MAX_KEY_BYTES + 2) // 3 * 4,
    "pattern": "^[A-Za-z0-9+/_-]*={0,2}$",
    "description": f"base64 (standard or url-safe, padding optional) of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes;"
    " answers use standard base64 with padding",
}
KEY_ID = {"type": "integer", "minimum": 0, "maximum": MAX_KEY_ID}
USER_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}

PATH_PARAMS: dict[str, JSON] = {"user_id": USER_ID}
_BUNDLE = {"device_id": STRING, "identity_key": BASE64_KEY, "signed_prekey": ref("SignedPrekey")}

SCHEMAS: dict[str, JSON] = {
    "SignedPrekey": obj({"key_id": KEY_ID, "public_key": BASE64_KEY, "signature": BASE64_KEY}, closed=True),
    "OneTimePrekey": obj({"key_id": KEY_ID, "public_key": BASE64_KEY}, closed=True),
    "DeviceBundle": obj(_BUNDLE),
    "DeviceKeys": obj(
        {
            **_BUNDLE,
            "one_time_prekey_count": INTEGER,
            "one_time_prekey_limit": {"type": "integer", "const": MAX_STORED},
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "ClaimedDevice": obj({**_BUNDLE, "one_time_prekey": nullable(ref("OneTimePrekey"))}),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _keys(book)
    return book.paths


def _keys(book: ApiBook) -> None:
    prekeys = array(ref("OneTimePrekey"), maxItems=MAX_UPLOAD)
    conflict = (
        "`key_id_taken` (a stored one-time prekey id with another key), `too_many_prekeys` (over "
        f"{MAX_STORED} per device) or `too_many_devices` (over {MAX_DEVICES} per account)."
    )
    book.op(
        "PUT",
        "/api/keys/device",
        tag="keys",
        summary="Publish or replace this device's public keys (this device = this session)",
        description="A new identity key drops the device's stored one-time prekeys; a new signed prekey keeps them. "
        "The keys last as long as the session: when it ends (signed out, revoked, ended by a password reset or a "
        "suspension) they are deleted with the device's inbox, and the people sharing an end-to-end chat with the "
        "user hear `keys.changed`; an expired session's keys are no longer listed, and are deleted by an hourly sweep.",
        fields={
            "identity_key": Field(str),
            "signed_prekey": Field(dict),
            "one_time_prekeys": Field(list, required=False),
        },
        refine={"identity_key": BASE64_KEY, "signed_prekey": ref("SignedPrekey"), "one_time_prekeys": prekeys},
        limit=KEYS_BODY_LIMIT,
        ok={200: reply("Replaced.", ref("DeviceKeys")), 201: reply("Published for the first time.", ref("DeviceKeys"))},
        errors={409: conflict},
    )
    book.op(
        "POST",
        "/api/keys/device/one-time",
        tag="keys",
        summary="Add one-time prekeys to this device",
        fields={"one_time_prekeys": Field(list)},
        refine={"one_time_prekeys": {**prekeys, "minItems": 1}},
        limit=KEYS_BODY_LIMIT,
        ok={200: reply("The device's keys and count.", ref("DeviceKeys"))},
        errors={404: "`not_published`: PUT /api/keys/device first.", 409: conflict},
    )
    book.op(
        "GET",
        "/api/keys/device",
        tag="keys",
        summary="This device's published keys and how many one-time prekeys are left",
        ok={200: reply("The keys.", ref("DeviceKeys"))},
        errors={404: "`not_published`."},
    )
    book.op(
        "DELETE",
        "/api/keys/device",
        tag="keys",
        summary="Forget this device's keys",
        ok={204: no_content("Forgotten (also when there were none).")},
    )
    book.op(
        "GET",
        "/api/keys/users/{user_id}",
        tag="keys",
        summary="A user's devices and their public keys (an unknown user has none)",
        description="Only devices whose sessions are live: a device signed out, revoked or expired is never listed.",
        ok={200: reply("The devices.", obj({"user_id": STRING, "devices": array(ref("DeviceBundle"))}))},
        errors={400: "`user_id` is not a user id."},
    )
    book.op(
        "POST",
        "/api/keys/users/{user_id}/claim",
        tag="keys",
        summary="Claim a one-time prekey of each of a user's devices, to start sessions",
        description="Each claimed prekey is handed out once. A device with none left comes without one. A claim of "
        "one's own user leaves out the calling device.",
        fields={"device_ids": Field(list, required=False)},
        refine={"device_ids": array({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, maxItems=MAX_DEVICES)},
        ok={200: reply("The claimed bundles.", obj({"user_id": STRING, "devices": array(ref("ClaimedDevice"))}))},
        errors={429: "Too many claims (per claimed user, and overall); see `Retry-After`."},
    )
