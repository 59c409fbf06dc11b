import counter.models
import django.core.validators
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Counter',
            fields=[
                ('name', models.CharField(max_length=200, primary_key=True, serialize=False)),
                ('views', models.BigIntegerField(default=0)),
                ('updated', models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='DailySalt',
            fields=[
                ('day', models.DateField(primary_key=True, serialize=False)),
                ('salt', models.BinaryField(max_length=32)),
            ],
        ),
        migrations.CreateModel(
            name='DailyVisitors',
            fields=[
                ('name', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('visitors', models.BigIntegerField(default=0)),
                ('registers', models.BinaryField(null=True)),
            ],
        ),
        migrations.CreateModel(
            name='NamedCounter',
            fields=[
                ('name', models.CharField(max_length=129, primary_key=True, serialize=False)),
                ('offset', models.BigIntegerField(default=0)),
                ('token_hash', models.CharField(blank=True, max_length=64)),
                ('series', models.CharField(default=counter.models.new_series, editable=False, max_length=32)),
                ('created', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='PageImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file', models.FileField(upload_to='page-images/', validators=[django.core.validators.FileExtensionValidator(['png', 'jpg', 'jpeg', 'gif', 'webp'])])),
                ('alt', models.CharField(help_text='What the image shows, for screen readers.', max_length=250, verbose_name='alternative text')),
                ('created', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['-created', '-id'],
            },
        ),
        migrations.CreateModel(
            name='RedisInstance',
            fields=[
                ('id', models.CharField(max_length=32, primary_key=True, serialize=False)),
                ('taken', models.BigIntegerField(default=0)),
                ('epoch', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='DailyVisitor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=64)),
                ('visitor', models.CharField(max_length=32)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('name', 'visitor'), name='one_row_per_visitor_and_day')],
            },
        ),
        migrations.CreateModel(
            name='RateLimitWindow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=80)),
                ('window', models.BigIntegerField()),
                ('count', models.IntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('key', 'window'), name='one_row_per_key_and_window')],
            },
        ),
    ]
