"""Enterprises and shops (企业店铺) of a community, known by their unified social credit code."""
