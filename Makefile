# One-line wrappers; the scripts in tools/ say what each step does.
.PHONY: lab test test-kind docker docker-stop

lab:  ## prepare everything, start the cluster, open the lessons in JupyterLab
	bash tools/lab.sh

test:  ## run the whole test suite (unit, cluster, notebooks) against a real control plane
	bash tools/test.sh

docker:  ## start Scale Lab's private Docker engine (own socket and data under the cache; your Docker's config untouched)
	bash tools/offline-kind/docker-up.sh --start

docker-stop:  ## stop Scale Lab's private Docker engine
	bash tools/offline-kind/docker-up.sh --stop

test-kind:  ## the kind layer: real containers (starts Docker, builds the offline node image if needed)
	bash tools/test-kind.sh
