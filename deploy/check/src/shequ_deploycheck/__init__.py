"""`make deploy-check`: the images' Dockerfile kept honest, the Helm chart rendered, validated
against the Kubernetes schemas offline and held to the project's policies."""
