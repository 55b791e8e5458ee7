"""Small helpers shared by the engine, the benchmarks and the reports."""
