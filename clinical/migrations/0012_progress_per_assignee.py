# Hand-written: the rows are recounted rather than given defaults.

import django.db.models.deletion
from django.db import migrations, models

# Every row recounted from the assignments, their assignees and their current submissions, as
# clinical/services/progress.py does (a copy, so that the migration does not change when the service does).
FILL = """
    INSERT INTO clinical_homeworkprogress (assignment_id, client_id, case_id, mode, status, start_date, due_date,
        frequency, target_count, periods, last_completed_at)
    WITH counts AS (
        SELECT s.assignment_id, s.client_id, COUNT(DISTINCT s.period) AS periods,
            MAX(s.completed_at) AS last_completed_at
        FROM clinical_homeworksubmission s
        WHERE s.status = 'current'
        GROUP BY GROUPING SETS ((s.assignment_id, s.client_id), (s.assignment_id))
    ),
    assignee AS (
        SELECT homeworkassignment_id AS assignment_id, client_id FROM clinical_homeworkassignment_assignees
        UNION ALL
        SELECT id, NULL FROM clinical_homeworkassignment
    )
    SELECT a.id, x.client_id, a.case_id, a.mode, a.status, a.start_date, a.due_date, a.frequency, a.target_count,
        COALESCE(n.periods, 0), n.last_completed_at
    FROM clinical_homeworkassignment a
    JOIN assignee x ON x.assignment_id = a.id
    LEFT JOIN counts n ON n.assignment_id = a.id
        AND COALESCE(n.client_id, '00000000-0000-0000-0000-000000000000'::uuid)
            = COALESCE(x.client_id, '00000000-0000-0000-0000-000000000000'::uuid)
"""

# Back: the rows of the earlier form (clients with a current submission; `repair_progress` of that version adds
# any submitter who is not an assignee).
UNFILL = "DELETE FROM clinical_homeworkprogress WHERE periods = 0"


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0011_homework_progress'),
    ]

    operations = [
        # Refilled below, with the new columns and a row for every assignee.
        migrations.RunSQL("DELETE FROM clinical_homeworkprogress", reverse_sql=migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name='homeworkprogress',
            name='progress_has_periods',
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='case',
            field=models.ForeignKey(db_index=False, default=None, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='clinical.case'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='due_date',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='frequency',
            field=models.CharField(choices=[('once', 'Once'), ('daily', 'Daily'), ('weekly', 'Weekly')], default='', max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='mode',
            field=models.CharField(choices=[('each', 'Each'), ('joint', 'Joint')], default='', max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='start_date',
            field=models.DateField(default='2000-01-01'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='status',
            field=models.CharField(choices=[('active', 'Active'), ('completed', 'Completed'), ('cancelled', 'Cancelled')], default='', max_length=12),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='homeworkprogress',
            name='target_count',
            field=models.PositiveSmallIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='homeworkprogress',
            name='last_completed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='homeworkprogress',
            index=models.Index(condition=models.Q(models.Q(('status', 'cancelled'), _negated=True), models.Q(('client__isnull', False), ('mode', 'joint'), _connector='OR')), fields=['case', 'assignment', 'client'], include=('mode', 'status', 'start_date', 'due_date', 'frequency', 'target_count', 'periods', 'last_completed_at'), name='progress_by_case'),
        ),
        migrations.AddConstraint(
            model_name='homeworkprogress',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('last_completed_at__isnull', True), ('periods', 0)), models.Q(('last_completed_at__isnull', False), ('periods__gte', 1)), _connector='OR'), name='progress_periods_have_a_last'),
        ),
        # Checked as inserted (no pending trigger events left for the ALTER TABLE that adds the case's key).
        migrations.RunSQL(["SET CONSTRAINTS ALL IMMEDIATE", FILL], reverse_sql=UNFILL),
    ]
