"""The peer benchmark: voxelio vs cloud-volume vs TensorStore on the same machine.

Run ``python -m benchmarks.run`` (``--quick`` for a short run, ``--check`` to fail on wrong
results); see ``benchmarks/README.md``.
"""
