"""The composition root: settings, embedded servers, process entry points."""
