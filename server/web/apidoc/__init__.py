"""The OpenAPI document's parts (assembled and served by server/web/openapi.py): one module per route module, each
with its operations (`paths()`) and the schemas they name (`SCHEMAS`); the building blocks are in kit.py."""
