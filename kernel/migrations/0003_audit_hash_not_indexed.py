# The trail's last index with random keys: the unique index on `hash`. Nothing looks an event up by its hash, and
# `verify_audit` already finds a copied or forged row (its link to the previous hash does not hold), but every
# audited request, reads included, descended this index to a random leaf, which at millions of events is seldom in
# shared buffers: at 4.7 million events, 1.6 reads from outside them and 1.1 full-page images (6-7 kB of WAL) per
# audited request, against 1 kB without it (docs/performance.md). Dropping it takes the table's lock for an instant.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('kernel', '0002_audit_indexes_trimmed'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='auditevent',
            name='audit_hash_unique',
        ),
    ]
