"""The closed loop: the retraining trigger, notifications, training data from production."""
