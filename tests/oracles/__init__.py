"""Independent engines the tests and the benchmark check crampnet against (pgmpy's variable
elimination and pyAgrum's lazy propagation): not part of the package."""
