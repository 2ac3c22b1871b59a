# Shortcuts; the scripts they call are the reference.
.PHONY: build test image demo demo-down

build: ## the tribune binary in ./tribune
	go build -o tribune ./cmd/tribune

test: ## the whole test suite (the container tests need Docker)
	./scripts/test.sh

image: ## the FROM scratch image tribune:dev (deploy/Dockerfile)
	./deploy/build.sh

demo: ## two datacenters in containers, and the walkthrough against them
	./deploy/demo.sh

demo-down: ## removes the demo's containers, networks and volumes
	./deploy/demo.sh down
