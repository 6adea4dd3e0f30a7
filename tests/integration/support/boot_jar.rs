//! A Spring-Boot-style fat jar, assembled by hand with javac and jar (Spring is not on these
//! machines): the application in BOOT-INF/classes, commons-lang3 from Debian's Maven
//! repository in BOOT-INF/lib, Spring's layers index, and a small stand-in for Spring's
//! `JarLauncher` that does what the real one does for an exploded jar: a class loader over
//! BOOT-INF/classes and BOOT-INF/lib/*.jar of the directory it was loaded from, then the
//! manifest's Start-Class's main.
//!
//! The server answers `/` with [`ROOT_TEXT`] and `/resource` with [`RESOURCE_TEXT`], on $PORT.

use super::tools::{run_ok, tool};
use std::fs;
use std::path::{Path, PathBuf};

pub const COMMONS_LANG3: &str =
    "/usr/share/maven-repo/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar";
pub const LAUNCHER: &str = "org.springframework.boot.loader.launch.JarLauncher";
pub const START_CLASS: &str = "com.example.BootApp";
/// What `/` answers: made by commons-lang3 from BOOT-INF/lib.
pub const ROOT_TEXT: &str = "Hello from spring boot commons-lang3\n";
/// What `/resource` answers: BOOT-INF/classes/greeting.txt.
pub const RESOURCE_TEXT: &str = "served from BOOT-INF/classes\n";

/// The layers of [`LAYERS_IDX`], in order.
pub const LAYERS: &[&str] = &[
    "dependencies",
    "spring-boot-loader",
    "snapshot-dependencies",
    "application",
];

const LAYERS_IDX: &str = r#"- "dependencies":
  - "BOOT-INF/lib/commons-lang3-3.12.0.jar"
- "spring-boot-loader":
  - "org/"
- "snapshot-dependencies":
- "application":
  - "BOOT-INF/classes/"
  - "BOOT-INF/layers.idx"
  - "META-INF/"
"#;

const MANIFEST: &str = "Main-Class: org.springframework.boot.loader.launch.JarLauncher\n\
Start-Class: com.example.BootApp\n\
Spring-Boot-Version: 3.2.0\n\
Spring-Boot-Classes: BOOT-INF/classes/\n\
Spring-Boot-Lib: BOOT-INF/lib/\n\
Spring-Boot-Layers-Index: BOOT-INF/layers.idx\n";

const LAUNCHER_JAVA: &str = r#"package org.springframework.boot.loader.launch;

import java.io.InputStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/** Launches an exploded Spring Boot jar: the root is the classpath directory this class was
 * loaded from. */
public class JarLauncher {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(JarLauncher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Attributes attrs;
        try (InputStream in = Files.newInputStream(root.resolve("META-INF/MANIFEST.MF"))) {
            attrs = new Manifest(in).getMainAttributes();
        }
        String start = attrs.getValue("Start-Class");
        if (start == null) {
            throw new IllegalStateException("no Start-Class in " + root.resolve("META-INF/MANIFEST.MF"));
        }
        String classes = attrs.getValue("Spring-Boot-Classes");
        String lib = attrs.getValue("Spring-Boot-Lib");
        List<URL> urls = new ArrayList<>();
        urls.add(root.resolve(classes == null ? "BOOT-INF/classes/" : classes).toUri().toURL());
        Path libDir = root.resolve(lib == null ? "BOOT-INF/lib/" : lib);
        if (Files.isDirectory(libDir)) {
            try (Stream<Path> jars = Files.list(libDir)) {
                for (Path jar : (Iterable<Path>) jars.filter(p -> p.toString().endsWith(".jar")).sorted()::iterator) {
                    urls.add(jar.toUri().toURL());
                }
            }
        }
        ClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), JarLauncher.class.getClassLoader());
        Thread.currentThread().setContextClassLoader(loader);
        Method main = Class.forName(start, false, loader).getMethod("main", String[].class);
        main.invoke(null, (Object) args);
    }
}
"#;

const APP_JAVA: &str = r#"package com.example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.apache.commons.lang3.StringUtils;

public class BootApp {
    public static void main(String[] args) throws IOException {
        String port = System.getenv().getOrDefault("PORT", "8080");
        HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(port)), 0);
        server.createContext("/", exchange -> send(exchange,
                StringUtils.capitalize("hello from spring boot") + " " + StringUtils.reverse("3gnal-snommoc") + "\n"));
        server.createContext("/resource", exchange -> {
            try (InputStream in = Thread.currentThread().getContextClassLoader().getResourceAsStream("greeting.txt")) {
                send(exchange, in == null ? "no greeting.txt\n" : new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        });
        server.start();
        System.out.println("BootApp listening on " + port);
    }

    private static void send(HttpExchange exchange, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
"#;

/// Builds the fat jar at `DIR/app.jar` (the work happens in a sibling temp directory, so
/// `DIR` holds only what the caller puts there) and returns its path.
pub fn fat_jar(dir: &Path) -> PathBuf {
    assert!(
        Path::new(COMMONS_LANG3).is_file(),
        "required: {COMMONS_LANG3}; apt-get install libcommons-lang3-java"
    );
    let work = tempfile::Builder::new()
        .prefix("lade-boot-jar-")
        .tempdir()
        .unwrap();
    let w = work.path();
    let src = w.join("src");
    let root = w.join("root");
    for (rel, text) in [
        (
            "org/springframework/boot/loader/launch/JarLauncher.java",
            LAUNCHER_JAVA,
        ),
        ("com/example/BootApp.java", APP_JAVA),
    ] {
        super::env::write_file(&src.join(rel), text);
    }
    // The launcher at the jar's root (the spring-boot-loader layer), the application in
    // BOOT-INF/classes.
    run_ok(
        tool("javac")
            .args(["--release", "17", "-d"])
            .arg(&root)
            .arg(src.join("org/springframework/boot/loader/launch/JarLauncher.java")),
    );
    run_ok(
        tool("javac")
            .args(["--release", "17", "-cp", COMMONS_LANG3, "-d"])
            .arg(root.join("BOOT-INF/classes"))
            .arg(src.join("com/example/BootApp.java")),
    );
    super::env::write_file(&root.join("BOOT-INF/classes/greeting.txt"), RESOURCE_TEXT);
    fs::create_dir_all(root.join("BOOT-INF/lib")).unwrap();
    fs::copy(
        COMMONS_LANG3,
        root.join("BOOT-INF/lib/commons-lang3-3.12.0.jar"),
    )
    .unwrap();
    super::env::write_file(&root.join("BOOT-INF/layers.idx"), LAYERS_IDX);
    let manifest = w.join("MANIFEST.MF");
    super::env::write_file(&manifest, MANIFEST);
    fs::create_dir_all(dir).unwrap();
    let jar = dir.join("app.jar");
    run_ok(
        tool("jar")
            .arg("--create")
            .arg("--file")
            .arg(&jar)
            .arg("--manifest")
            .arg(&manifest)
            .arg("-C")
            .arg(&root)
            .arg("."),
    );
    jar
}

/// The same jar unzipped at `DIR/exploded` (built as [`fat_jar`] does, the jar itself left
/// out); returns that directory.
pub fn exploded(dir: &Path) -> PathBuf {
    let work = tempfile::Builder::new()
        .prefix("lade-boot-jar-")
        .tempdir()
        .unwrap();
    let jar = fat_jar(work.path());
    let out = dir.join("exploded");
    fs::create_dir_all(&out).unwrap();
    run_ok(
        tool("jar")
            .arg("--extract")
            .arg("--file")
            .arg(&jar)
            .current_dir(&out),
    );
    out
}
