"""Generated protobuf bindings of Shequ (package ``shequ.<service>.v1``); run ``make proto``."""
