"""What a person's answers mean: the model object, ranked causes, red flags, the next question and
scenarios."""
