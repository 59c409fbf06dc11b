"""The app's migrations (counter/migrations): what they do to rows that exist when they run."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrate():
    """Migrate the test database to a migration of the app and return the models as they were
    there; the database is migrated to the latest again afterwards."""
    executor = MigrationExecutor(connection)

    def to(name):
        executor.loader.build_graph()
        executor.migrate([("counter", name)])
        return executor.loader.project_state([("counter", name)]).apps

    yield to
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_alternative_texts_saved_before_they_were_validated_lose_their_hidden_characters(migrate):
    before = migrate("0001_initial")
    before.get_model("counter", "PageImage").objects.create(
        file="page-images/a.png", alt="A lighthouse\u202e at dusk\u200b"
    )
    after = migrate("0002_page_image_alt_visible")
    assert after.get_model("counter", "PageImage").objects.get().alt == "A lighthouse at dusk"
