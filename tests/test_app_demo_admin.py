"""`make app` creates the demo admin once, prints its password that once, and stores only a hash."""

import sqlite3
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_demo_admin_is_created_once_with_a_hashed_password(tmp_path):
    db = tmp_path / "demo.db"
    command = [sys.executable, "-m", "annotation_app.users", "demo-admin", "--db", f"sqlite:///{db}"]
    first = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    password = first.split("password: ")[1].split()[0]
    second = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert password not in second and "exists" in second
    stored = sqlite3.connect(db).execute("select role, password_hash from annotators").fetchall()
    assert len(stored) == 1 and stored[0][0] == "admin"
    assert password not in stored[0][1] and stored[0][1].startswith("scrypt$")
