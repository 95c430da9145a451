from pathlib import Path

import psycopg

from shequ_infra import LocalInfrastructure
from shequ_kit.migrations import upgrade

SAMPLE = Path(__file__).parent / "sample_migrations"


def test_a_migration_puts_its_table_under_row_level_security(infra: LocalInfrastructure) -> None:
    infra.postgres.create_database("kit_migrations")
    dsn = infra.postgres.dsn("kit_migrations")

    upgrade(SAMPLE, dsn)
    upgrade(SAMPLE, dsn)  # a second run is a no-op

    with psycopg.connect(dsn) as connection:
        connection.execute("SELECT set_config('shequ.tenant_id', 'xiaoshan.shushan.hushan', true)")
        connection.execute(
            "INSERT INTO household (tenant_id, head) VALUES ('xiaoshan.shushan.hushan', '张三')"
        )
        connection.commit()
        assert connection.execute("SELECT count(*) FROM household").fetchone() == (0,)
        connection.execute("SELECT set_config('shequ.tenant_id', 'xiaoshan.shushan.hushan', true)")
        assert connection.execute("SELECT head FROM household").fetchall() == [("张三",)]
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == ("0001",)
