"""The REST API's shared parts: errors, schema, paging and throttles, tokens."""
