"""Model pieces shared by the projects. Import submodules explicitly (e.g. reid_plugins.modeling.clip) so that
importing one does not pull in the heavy dependencies of another."""
