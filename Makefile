# One-line wrappers; the scripts in tools/ say what each step does.
.PHONY: lab test test-kind

lab:  ## prepare everything, start the cluster, open the lessons in JupyterLab
	bash tools/lab.sh

test:  ## run the whole test suite (unit, cluster, notebooks) against a real control plane
	bash tools/test.sh

test-kind:  ## the kind layer: real containers (starts Docker, builds the offline node image if needed)
	bash tools/test-kind.sh
