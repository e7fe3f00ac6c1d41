//! Integration tests of the tinytrain workspace.
