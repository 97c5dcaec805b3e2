"""User management: python -m annotation_app.users add NAME --role annotator|admin [--password-stdin]

The password is asked with getpass on a terminal and read from stdin otherwise; it is only ever stored
as an scrypt hash and never printed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from annotation_app.config import add_config_arguments, config_from_args
from annotation_app.service import AnnotationService, ValidationError
from annotation_app.storage import ROLES, Annotator


def read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Parola: ")
    if password != getpass.getpass("Parola (tekrar): "):
        raise ValidationError("Parolalar eşleşmiyor.")
    return password


def ensure_demo_admin(service: AnnotationService, username: str = "admin") -> None:
    with service.sessions() as session:
        exists = session.query(Annotator).filter_by(username=username).first() is not None
    if exists:
        print(
            f"demo admin '{username}' exists; its password was printed when it was created "
            f"(reset: python -m annotation_app.users add NEWNAME --role admin)"
        )
        return
    password = secrets.token_urlsafe(12)
    service.add_user(username, password, "admin")
    print(f"demo admin created — user: {username}  password: {password}  (shown once; stored only as a hash)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Annotation app users")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="annotator")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_config_arguments(add)
    listing = commands.add_parser("list", help="list users and roles")
    add_config_arguments(listing)
    demo = commands.add_parser("demo-admin", help="create the demo admin once; its password is printed that once")
    add_config_arguments(demo)
    args = parser.parse_args(argv)
    service = AnnotationService.from_config(config_from_args(args))
    try:
        if args.command == "add":
            service.add_user(args.username, read_password(args.password_stdin), args.role)
            print(f"added {args.username} ({args.role})")
        elif args.command == "demo-admin":
            ensure_demo_admin(service)
        else:
            with service.sessions() as session:
                for annotator in session.query(Annotator).order_by(Annotator.username):
                    print(f"{annotator.username}\t{annotator.role}")
    except ValueError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
