"""The knowledge as data: the priors files' schema, loading and checks, compact CPDs expanded to
tables, claim coverage, parameter draws and the writer of learned priors."""
