"""Do the Spark images share one pyspark install? Each image's history names the step
that installed infra/requirements-spark.txt; a layer that Docker's cache served to
every image has the same creation time in all of them (a step run again would not).
Prints one line; exits 1 unless all the images share that layer.

Usage: .venv/bin/python tests/docker/layers.py IMAGE [IMAGE ...]
"""

import json
import subprocess
import sys


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


images = sys.argv[1:]
steps = {}
for image in images:
    output = docker("history", "--no-trunc", "--format", "{{json .}}", image)
    history = [json.loads(line) for line in output.splitlines() if line]
    installs = [(h["CreatedAt"], h["Size"]) for h in history
                if "pip install" in h["CreatedBy"] and "requirements-spark.txt" in h["CreatedBy"]]
    if len(installs) != 1:
        sys.exit(f"{image}: {len(installs)} pyspark install steps in its history, expected 1")
    steps[image] = installs[0]
layers = [json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", image)) for image in images]
shared = 0
while all(len(ls) > shared for ls in layers) and len({ls[shared] for ls in layers}) == 1:
    shared += 1
if len(set(steps.values())) != 1:
    sys.exit(f"pyspark was installed {len(set(steps.values()))} times for {len(images)} images: {steps}")
created, size = next(iter(steps.values()))
print(f"the {len(images)} Spark images share their first {shared} layers, among them one pyspark install "
      f"({size}, built {created}): installed once, stored once")
