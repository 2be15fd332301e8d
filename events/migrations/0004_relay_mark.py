# The relay keeps a mark instead of a pending row per event. Events recorded before carry no transaction id (null: never
# relayed again), except those still pending, which take this migration's: the relay hands them on once it has ended.

import events.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0003_pending_fan_out'),
    ]

    operations = [
        migrations.CreateModel(
            name='RelayMark',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('transaction_id', events.models.TransactionIdField()),
                ('sequence', models.BigIntegerField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='event',
            name='event_by_type',
        ),
        migrations.AddField(
            model_name='event',
            name='transaction_id',
            field=events.models.TransactionIdField(db_default=events.models.CurrentTransactionId(), editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='event',
            name='sequence',
            field=models.BigIntegerField(db_default=events.models.NextValue(models.Value('events_event_sequence')), editable=False),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['transaction_id', 'sequence'], name='event_relay_order'),
        ),
        migrations.AddConstraint(
            model_name='relaymark',
            constraint=models.CheckConstraint(condition=models.Q(('id', 1)), name='one_relay_mark'),
        ),
        migrations.RunSQL(
            [
                "ALTER TABLE events_event DISABLE TRIGGER pgtrigger_events_are_immutable_1d8a5",
                "UPDATE events_event SET transaction_id = NULL"
                " WHERE id NOT IN (SELECT event_id FROM events_pendingfanout)",
                "ALTER TABLE events_event ENABLE TRIGGER pgtrigger_events_are_immutable_1d8a5",
                "INSERT INTO events_relaymark (id, transaction_id, sequence) VALUES (1, '0', 0)",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveField(
            model_name='pendingfanout',
            name='event',
        ),
        migrations.DeleteModel(
            name='PendingFanOut',
        ),
    ]
