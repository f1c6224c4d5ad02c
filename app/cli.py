"""Command-line tools: `flask create-admin`, `flask seed-demo`, `flask media webp|push|check`,
`flask backup`, `flask restore FILE`."""

from pathlib import Path

import click
from flask import Flask

from app import storage
from app.accounts import services as accounts
from app.accounts.models import Role
from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.storage import S3Storage, StorageError


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--mobile", prompt="Mobile number", help="The owner's mainland mobile number (login name).")
    @click.option("--password", help="For scripts; asked for (hidden, twice) when left out.")
    @click.option("--nickname", default="", help="Shown in the back office.")
    @click.option("--staff", is_flag=True, help="Make a staff account instead of an owner account.")
    def create_admin(mobile: str, password: str | None, nickname: str, staff: bool):
        """Create a back-office account (or promote an existing one and reset its password)."""
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = accounts.create_admin(
                db.session,
                mobile=mobile,
                password=password,
                nickname=nickname,
                role=Role.STAFF if staff else Role.OWNER,
            )
        except accounts.AccountError as error:
            db.session.rollback()
            raise click.ClickException(str(error.message)) from None
        db.session.commit()
        click.echo(f"{user.role} account ready: {user.mobile}. Log in at /admin/login")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has products.")
    @click.option(
        "--url",
        default="http://127.0.0.1:5000/",
        show_default=True,
        help="Where the shop will be reached: printed, and put in the customer-service QR code.",
    )
    def seed_demo(if_empty: bool, url: str):
        """Fill the database with a believable demo shop (idempotent: only adds what is missing)."""
        from app.demo import seed

        if app.config["FENXIAO_ENV"] == "production":
            # Its order history is paid through the sandbox, which production does not have; and made-up
            # customers and orders have no place beside real ones. Refuse before writing anything.
            raise click.ClickException(
                "seed-demo is for trying Fenxiao out and does not run in production "
                "(FENXIAO_ENV=production): nothing was written. Use FENXIAO_ENV=development on a test copy."
            )

        seed(db.session, if_empty=if_empty, url=url, echo=click.echo)

    media_group = click.Group("media", help="Uploaded pictures.")
    app.cli.add_command(media_group)

    @media_group.command("webp")
    def media_webp():
        """Make the WebP thumbnails of pictures uploaded before Fenxiao made them (idempotent), in the folder
        or the bucket in use. Run once after upgrading; until then the shop shows those pictures as JPEG/PNG
        only (from a folder) or misses their WebP (from a bucket)."""
        from app.media import add_missing_webp

        made = _storage_command(add_missing_webp)
        click.echo(f"{made} WebP thumbnails made")

    @media_group.command("push")
    def media_push():
        """Copy the pictures in UPLOAD_FOLDER into the bucket (MEDIA_S3_BUCKET), skipping those already there:
        run it when the shop moves to object storage, and again until it copies nothing."""
        from app.media import push_folder

        folder = Path(app.config["UPLOAD_FOLDER"])
        if not isinstance(storage.current(), S3Storage):
            raise click.ClickException(
                "MEDIA_S3_BUCKET is not set: there is no bucket to copy to. Set the MEDIA_S3_* variables "
                "and MEDIA_PUBLIC_URL (README: Images on object storage), then run this again."
            )
        if not folder.is_dir():
            raise click.ClickException(f"UPLOAD_FOLDER {folder} is not a folder: nothing to copy.")
        copied, skipped = _storage_command(lambda store: push_folder(folder, store))
        click.echo(f"{copied} files copied to {storage.current().describe()}, {skipped} already there")

    @media_group.command("check")
    def media_check():
        """Say where pictures are kept; with a bucket, check that it answers, takes a file with these
        credentials and serves it back at MEDIA_PUBLIC_URL."""
        store = storage.current()
        if isinstance(store, S3Storage):
            _storage_command(S3Storage.check)
        click.echo(f"ok: pictures are kept in the {store.describe()}")

    @job_command(app.cli, "backup", app_group=True)
    def backup():
        """Write a consistent copy of the database (with the list of uploaded files) to BACKUP_DIR and delete
        the copies older than BACKUP_KEEP_DAILY days and BACKUP_KEEP_MONTHLY months (cron: daily)."""
        from app.backups import JOB_NAME, BackupError, backup_work

        try:
            run_job_from_cron(JOB_NAME, lambda: backup_work(click.echo))
        except (BackupError, StorageError, OSError) as error:
            raise click.ClickException(f"backup failed: {error}") from None

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(path_type=Path))
    def restore(file: Path):
        """Restore a backup made by `flask backup` into the configured database, which must be empty."""
        from app.backups import BackupError
        from app.backups import restore as restore_backup

        try:
            manifest = restore_backup(file, click.echo)
        except BackupError as error:
            raise click.ClickException(str(error)) from None
        click.echo(
            f"restored the backup of {manifest['created_at']}. Uploaded files are not in a backup: restore "
            f"UPLOAD_FOLDER ({len(manifest['media']['files'])} files listed in the manifest) from its own copy, "
            "then run `flask db upgrade`."
        )


def _storage_command(work):
    """Run work(storage); a storage failure ends the command with its reason instead of a traceback."""
    try:
        return work(storage.current())
    except StorageError as error:
        raise click.ClickException(str(error)) from None
