"""The search: the hypermodel (space) and its pieces (hyperparameters, data, callbacks, budget, memory),
keras-tuner's tuners and the trial loop (tune), chief/worker search (distributed, worker), devices, recipes,
and every keras-tuner/TensorFlow internal autotune touches (kt_compat)."""
