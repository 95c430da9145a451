"""Grid: grids and micro-grids, members, coverage, workload, visits and the layout planner."""
