"""The contract routes of tests/frameworks as a Uliweb app."""
