package com.example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.apache.commons.lang3.StringUtils;

/** A small HTTP server: `/` answers with text made by commons-lang3, `/resource` with a file
 * from the classpath. Listens on $PORT (default 8080). */
public class Server {
    public static void main(String[] args) throws IOException {
        String port = System.getenv().getOrDefault("PORT", "8080");
        HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(port)), 0);
        server.createContext("/", exchange -> {
            if (!exchange.getRequestURI().getPath().equals("/")) {
                send(exchange, 404, "not found\n");
                return;
            }
            send(exchange, 200, StringUtils.capitalize("hello from maven") + " "
                    + StringUtils.reverse("3gnal-snommoc") + "\n");
        });
        server.createContext("/resource", exchange -> {
            try (InputStream in = Server.class.getResourceAsStream("/greeting.txt")) {
                if (in == null) {
                    send(exchange, 500, "greeting.txt is not on the classpath\n");
                } else {
                    send(exchange, 200, new String(in.readAllBytes(), StandardCharsets.UTF_8));
                }
            }
        });
        server.start();
        System.out.println("listening on " + port);
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
