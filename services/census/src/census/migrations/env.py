from census.enterprises import models as _enterprises  # noqa: F401
from census.imports import models as _imports  # noqa: F401 - registers the tables
from census.models import metadata
from census.organizations import models as _organizations  # noqa: F401
from census.people import models as _people  # noqa: F401 - registers the tables
from census.places import models as _places  # noqa: F401
from shequ_kit.migrations import run_migrations_in_alembic_env

run_migrations_in_alembic_env(metadata)
