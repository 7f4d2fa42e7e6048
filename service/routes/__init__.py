"""The endpoints: ``users`` (the resource) and ``health`` (for the platform)."""
