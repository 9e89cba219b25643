"""Pydantic models of the REST API: request bodies, query strings and responses.

They validate input (unknown fields are refused) and are the source of the OpenAPI document.
One module per backend service: common.py has the shared pieces.
"""
