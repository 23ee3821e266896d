"""Optimizer-side components shared by the projects. Import submodules explicitly
(``from reid_plugins.solver.gradnorm import GradNorm``)."""
