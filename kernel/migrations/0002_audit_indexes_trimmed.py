# The audit trail kept two indexes no query reads, both written by every audited request: a varchar_pattern_ops
# copy of the unique index on `hash` (Django adds one for unique=True on a CharField, for LIKE), and the foreign
# key's own index on actor_id, which audit_by_actor (actor_id, occurred_at) already leads with. At 6.6 million
# events they were 698 MB and 46 MB, the first one with random keys. The unique index stays, renamed as the
# constraint that now declares it (no rebuild).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FORWARD = [
    "DROP INDEX IF EXISTS clinical_auditevent_hash_3d4fb1cd_like",
    "DROP INDEX IF EXISTS clinical_auditevent_actor_id_e9cc3289",
    "ALTER TABLE clinical_auditevent RENAME CONSTRAINT clinical_auditevent_hash_key TO audit_hash_unique",
]
BACKWARD = [
    "ALTER TABLE clinical_auditevent RENAME CONSTRAINT audit_hash_unique TO clinical_auditevent_hash_key",
    "CREATE INDEX clinical_auditevent_actor_id_e9cc3289 ON clinical_auditevent (actor_id)",
    "CREATE INDEX clinical_auditevent_hash_3d4fb1cd_like ON clinical_auditevent (hash varchar_pattern_ops)",
]


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('kernel', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='hash',
                    field=models.CharField(max_length=64),
                ),
                migrations.AddConstraint(
                    model_name='auditevent',
                    constraint=models.UniqueConstraint(fields=('hash',), name='audit_hash_unique'),
                ),
            ],
        ),
    ]
