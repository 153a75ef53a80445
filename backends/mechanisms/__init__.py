"""One module per mechanism, each showing only what is special about it; the registry
(``backends.registry``) imports a module when its backend is first asked for."""
