"""Integration tester Lambda: runs a project's test cases against an endpoint once it is in service."""
